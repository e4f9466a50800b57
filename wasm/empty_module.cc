// An empty module: the baseline of the code-size figures.
