"""Where trained modules and their logs live: the versioned module registry (and, later, the SQLite store)."""
