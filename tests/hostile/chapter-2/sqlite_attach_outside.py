# mistake: attaches (creates) a SQLite database outside its folder
# fails: module-imports (import-error)

import sqlite3

connection = sqlite3.connect(":memory:")
connection.execute("ATTACH DATABASE '/tmp/grade-hostile-escape.db' AS other")
connection.execute("CREATE TABLE other.stolen (x)")
