"""Running a grid: parse the command line's values, plan groups and cell keys, guard the grid's size,
hand work units to an executor, run them with the stage cache, and record what ran."""
