# mistake: allocates memory, 200 MB at a time, until none is left
# fails: module-imports (memory)

hoard = []
while True:
    hoard.append(bytes(200_000_000))
