"""The portal's pages, one module per audience; each module's `router` is mounted by main."""
