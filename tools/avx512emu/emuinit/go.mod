module emuinit

go 1.26
