"""Knowledge base: categories, articles with review lifecycle and revisions, hybrid search."""
