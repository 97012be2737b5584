package web

// CSVCell exposes csvCell to the tests.
var CSVCell = csvCell
