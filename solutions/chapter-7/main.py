from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query
from sqlmodel import func, select

from database import AnalyticsSessionDep, PrimarySessionDep, create_db_and_tables, dispose_engines
from events import Event
from models import Hero, HeroCreate, HeroPublic, HeroUpdate


@asynccontextmanager
async def lifespan(app: FastAPI):
    await create_db_and_tables()
    yield
    await dispose_engines()  # close the pooled connections while the event loop still runs


app = FastAPI(lifespan=lifespan)


@app.post("/heroes/", response_model=HeroPublic)
async def create_hero(hero: HeroCreate, session: PrimarySessionDep):
    db_hero = Hero.model_validate(hero)
    session.add(db_hero)  # add() only records the object: no I/O, nothing to await
    await session.flush()
    return db_hero


@app.get("/heroes/", response_model=list[HeroPublic])
async def read_heroes(session: PrimarySessionDep, offset: int = 0, limit: Annotated[int, Query(le=100)] = 100):
    heroes = await session.exec(select(Hero).offset(offset).limit(limit))
    return heroes.all()


@app.get("/heroes/{hero_id}", response_model=HeroPublic)
async def read_hero(hero_id: int, session: PrimarySessionDep):
    hero = await session.get(Hero, hero_id)
    if not hero:
        raise HTTPException(status_code=404, detail="Hero not found")
    return hero


@app.patch("/heroes/{hero_id}", response_model=HeroPublic)
async def update_hero(hero_id: int, hero: HeroUpdate, session: PrimarySessionDep):
    db_hero = await session.get(Hero, hero_id)
    if not db_hero:
        raise HTTPException(status_code=404, detail="Hero not found")
    db_hero.sqlmodel_update(hero.model_dump(exclude_unset=True))
    session.add(db_hero)
    await session.flush()
    return db_hero


@app.delete("/heroes/{hero_id}")
async def delete_hero(hero_id: int, session: PrimarySessionDep):
    hero = await session.get(Hero, hero_id)
    if not hero:
        raise HTTPException(status_code=404, detail="Hero not found")
    await session.delete(hero)
    return {"ok": True}


@app.get("/stats")
async def read_stats(primary: PrimarySessionDep, analytics: AnalyticsSessionDep) -> dict[str, int]:
    """Counts from both databases, in one request."""
    heroes = await primary.exec(select(func.count()).select_from(Hero))
    events = await analytics.exec(select(func.count()).select_from(Event))
    return {"heroes": heroes.one(), "events": events.one()}
