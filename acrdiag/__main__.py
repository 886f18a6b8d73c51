from acrdiag.cli import main

main()
