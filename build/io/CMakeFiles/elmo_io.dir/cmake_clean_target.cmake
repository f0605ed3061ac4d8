file(REMOVE_RECURSE
  "libelmo_io.a"
)
