# Empty dependencies file for elmo.
# This may be replaced when dependencies are built.
