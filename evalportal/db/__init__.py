"""Database backends: Django's, with what this project's settings need of them."""
