from sqlmodel import Field, SQLModel


class Event(SQLModel, table=True):
    """Something that happened (a page view, a sign-up), recorded in the analytics database."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
