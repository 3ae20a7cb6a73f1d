# mistake: writes a file outside its own folder
# fails: module-imports (refused)

with open("/tmp/grade-hostile-escape.txt", "w") as handle:
    handle.write("escaped")
