"""Management commands and the demo data: edges, like the admin and the portal.
They parse arguments and call services; they may import services, models and the pure core."""
