from dingrelay.cli import main

main()
