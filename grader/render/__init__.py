"""Renderers: turn a Report into text for people or data for machines."""
