from bench.cli import main

if __name__ == "__main__":  # worker processes are spawned: they must not run the harness again
    main()
