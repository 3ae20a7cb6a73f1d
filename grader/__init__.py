"""The grading engine: load a chapter, check a submission statically and behaviourally, report."""

__version__ = "0.1.0"
