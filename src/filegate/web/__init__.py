"""The page that ships with filegate: static ES modules and CSS served by the API."""
