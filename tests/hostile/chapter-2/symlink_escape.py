# mistake: writes outside its folder through a symbolic link it made inside
# fails: module-imports (refused)

import os

os.symlink("/tmp/grade-hostile-escape.txt", "escape-link")
with open("escape-link", "w") as handle:
    handle.write("escaped")
