using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace VaeWeb.Server.Data.Migrations
{
    /// <summary>Galleries store their image size; older galleries hold MNIST-sized 28x28 images.</summary>
    public partial class GalleryImageSize : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<int>(
                name: "Height",
                table: "Galleries",
                type: "INTEGER",
                nullable: false,
                defaultValue: 28);                                  // galleries made before were all of 28x28 images

            migrationBuilder.AddColumn<int>(
                name: "Width",
                table: "Galleries",
                type: "INTEGER",
                nullable: false,
                defaultValue: 28);                                  // galleries made before were all of 28x28 images
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "Height",
                table: "Galleries");

            migrationBuilder.DropColumn(
                name: "Width",
                table: "Galleries");
        }
    }
}
