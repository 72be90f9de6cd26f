DROP TABLE retired_instance_names;
