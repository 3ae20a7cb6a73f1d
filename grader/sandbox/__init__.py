"""The execution side of the grader: where learner code runs, and what holds it (see README.md here)."""
