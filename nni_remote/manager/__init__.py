"""The manager process: controller, scheduler, store and registry."""
