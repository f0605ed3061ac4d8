# Empty dependencies file for elmo_model.
# This may be replaced when dependencies are built.
