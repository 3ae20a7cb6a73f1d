# mistake: loops forever at import time
# fails: module-imports (timeout)

while True:
    pass
