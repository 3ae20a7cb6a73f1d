"""`course serve`: the course in the browser (the learner's pages), or with `--gradebook DIR` the
class's batch grades (the instructor's); a FastAPI app on 127.0.0.1, see `course.serve.app`."""
