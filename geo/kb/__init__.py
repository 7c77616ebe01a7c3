"""The operators' knowledge base: per category of a city, in Russian, Kazakh and English,
what to ask the caller and what to tell them (deadline, who is responsible, what happens
next). ``articles``: reading, searching and editing (admins, versioned); ``seed``: a city's
first articles from the categories (``seed.yaml``)."""
