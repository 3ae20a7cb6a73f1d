from sqlmodel import SQLModel, create_engine

# Chapter 1: the SQLite URL, the engine, and create_db_and_tables() go here.
