from farebox.cli.main import app

if __name__ == "__main__":  # not when `serve --workers` spawns a worker (it imports this module)
    app()
