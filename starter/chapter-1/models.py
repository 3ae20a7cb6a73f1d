from sqlmodel import Field, SQLModel

# Chapter 1: define the heroes here. A `Hero` table model (id, name, secret_name, age),
# and the models the API reads and returns: HeroCreate, HeroPublic and HeroUpdate.
