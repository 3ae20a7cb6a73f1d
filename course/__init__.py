"""The learner's and instructor's command line: `grade` and `course`."""
