# Empty dependencies file for elmo_io.
# This may be replaced when dependencies are built.
