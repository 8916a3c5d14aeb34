from grunet.cli import main

main()
