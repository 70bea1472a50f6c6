"""Archives: the streaming ZIP writer, part planning, names, and the builds that run them."""
