"""Plugin machinery: the hook specifications, the registry that loads built-ins and entry points,
and the contract kit for plugin authors' tests."""
