"""Everything filegate keeps in Redis: its keys, its states and the Lua scripts that change them."""
