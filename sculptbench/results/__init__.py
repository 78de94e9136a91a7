"""Results: the SQLite store, the leaderboards and reports, plots and network drawings."""
