"""codexhub's host agent: the program that runs on each workstation.

It talks to the hub over HTTP and one outbound WebSocket and never imports
Django, so it installs on a workstation without the hub's dependencies.
"""

__version__ = "0.1.0"
