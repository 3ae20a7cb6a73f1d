# mistake: deletes a folder outside its own
# fails: module-imports (refused)

import shutil

shutil.rmtree("/tmp/grade-hostile-victim")
