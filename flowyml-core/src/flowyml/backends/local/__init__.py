"""The embedded local backend: detached supervisor processes running the step-runner per unit."""
