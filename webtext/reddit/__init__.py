"""Reddit link harvest: dump readers, the praw source, URL canonicalisation, filters, karma."""
