"""Runner: plans jobs from specs or command-line options, runs them through an executor, stores records."""
