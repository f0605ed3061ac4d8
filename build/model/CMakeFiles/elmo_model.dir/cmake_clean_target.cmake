file(REMOVE_RECURSE
  "libelmo_model.a"
)
