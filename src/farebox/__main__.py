from farebox.cli.main import app

app()
