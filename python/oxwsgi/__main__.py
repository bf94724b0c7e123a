from oxwsgi import main

main()
