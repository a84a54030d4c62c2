"""Where and how ferzoo runs: the Keras backend (`backend`), the devices (`devices`), the
dtype policy (`precision`), the per-backend speed settings (`performance`), parameter and MAC
counts (`profiling`) and quiet logs (`logs`). Importing the package loads nothing."""
