# Empty dependencies file for elmo_worker.
# This may be replaced when dependencies are built.
