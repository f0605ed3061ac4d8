file(REMOVE_RECURSE
  "libelmo_worker.a"
)
