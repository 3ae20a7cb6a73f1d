# mistake: opens a network connection
# fails: module-imports (refused)

import socket

socket.create_connection(("192.0.2.1", 80), timeout=1)
